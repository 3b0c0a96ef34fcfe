/* Self-check boxes on the exercise pages: judge a typed answer with no
 * kernel and no network.
 *
 * Each box (.sb-selfcheck) carries its question as JSON, written at build
 * time by tools/selfcheck.py from scalebook.selfcheck: the expected value,
 * its tolerance and every known wrong answer with its hint.  This file
 * holds no hint of its own, and takes grading's other messages from the
 * data too (scalebook.selfcheck.rules); it reads the reader's text and
 * applies the same comparison as scalebook.grading (Number, Choice, Shape,
 * Parts), so a wrong answer gets the hint `sb.check` would print.  The box never
 * shows the expected value.  tests/test_browser.py compares its verdicts
 * with Python's for every item.
 *
 * Loaded only on exercise pages (app.add_js_file in tools/selfcheck.py).
 */
(function () {
  "use strict";

  var PASS = "pass", FAIL = "fail", BLANK = "not attempted",
      BAD = "wrong type";
  var SEVERITY = {"wrong type": 2, "fail": 1, "not attempted": 0};
  var NUM = "[+-]?(?:\\d[\\d_]*\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?";

  function fb(status, message) { return {status: status, message: message}; }

  function close(a, b, rtol) {
    if (b === 0) return Math.abs(a) <= rtol;
    return Math.abs(a - b) <= rtol * Math.abs(b);
  }

  function direction(x, want, unit, miss, rules) {  // questions._direction
    var m = rules.messages;
    if (want !== 0 && x !== 0 && (x > 0) !== (want > 0)) return m.sign;
    var large = Math.abs(x) > Math.abs(want);
    var ratio = Math.max(Math.abs(x), 1e-300) / Math.max(Math.abs(want), 1e-300);
    if (ratio > 10 || ratio < 0.1) {
      var key = "far_" + (large ? "large" : "small") + (unit ? "_unit" : "");
      return m[key].split(rules.placeholders.unit).join(unit);
    }
    return m[large ? "near_large" : "near_small"].split(rules.placeholders.miss)
      .join(miss || m.default_miss);
  }

  /* Reading what the reader typed.  Returns {value} or a feedback. */
  function readNumber(text, unit, rules) {
    var t = text.trim().replace(/[\u2212\u2013]/g, "-");
    if (!t) return fb(BLANK, "type your answer in the box, then press Check.");
    var m;
    if (new RegExp("^" + NUM + "$").test(t)) return {value: Number(t.replace(/_/g, ""))};
    if ((m = new RegExp("^(" + NUM + ")\\s*(?:\\*|\u00d7|x|\u00b7)\\s*10\\s*(?:\\^|\\*\\*)\\s*([+-]?\\d+)$").exec(t)))
      return {value: Number(m[1].replace(/_/g, "")) * Math.pow(10, Number(m[2]))};
    if ((m = /^(\d+)\s*(?:\^|\*\*)\s*(\d+)$/.exec(t)))
      return {value: Math.pow(Number(m[1]), Number(m[2]))};
    if (/^[+-]?(inf|infinity|nan)$/i.test(t))
      return fb(FAIL, rules.messages.not_finite);
    if ((m = new RegExp("^(" + NUM + ")\\s*%$").exec(t))) {
      if (unit === "%") return {value: Number(m[1].replace(/_/g, ""))};
      return fb(BAD, "type a plain number, not a percentage (" + m[1] +
                "% is " + String(Number(m[1]) / 100) + ").");
    }
    if (/^[+-]?[\d.]*\d,\d/.test(t))
      return fb(BAD, "use a point for decimals and no thousands separators: " +
                "0.5, not 0,5; 1024, not 1,024.");
    if ((m = new RegExp("^(" + NUM + ")\\s*(\\S.*)$").exec(t)))
      return fb(BAD, "type the number alone, without \u201c" + m[2] + "\u201d: " +
                (unit ? "this box takes " + unit + ", as the statement asks."
                      : "this box takes a plain number."));
    return fb(BAD, "\u201c" + t + "\u201d is not a number: type digits such as " +
              "0.5, 2048 or 1.5e9.");
  }

  function stem(s) {  // choices._stem
    var n = Array.from(s.toLowerCase()).filter(function (c) {
      return /[\p{L}\p{N}]/u.test(c);
    }).join("");
    if (n.length > 5 && n.slice(-5) === "bound") n = n.slice(0, -5);
    return n;
  }

  function option(spec, rules, word) {  // choices.Choice.option
    var s = stem(word), i;
    var named = function (w) {
      return spec.options.filter(function (o) { return stem(o) === w; });
    };
    if (named(s).length) return named(s)[0];
    var bare = s;
    for (i = 0; i < rules.trailing.length; i++) {
      var w = rules.trailing[i];
      if (s.length > w.length && s.slice(-w.length) === w) {
        bare = s.slice(0, -w.length);
        break;
      }
    }
    var tries = [rules.aliases[s], bare, rules.aliases[bare]];
    for (i = 0; i < tries.length; i++)
      if (tries[i] && named(tries[i]).length) return named(tries[i])[0];
    var group = null, g;
    for (g in rules.synonyms)
      if (rules.synonyms[g].indexOf(s) >= 0) { group = g; break; }
    if (group === null) return null;
    var same = spec.options.filter(function (o) {
      var so = stem(o);
      return rules.only_itself.indexOf(so) < 0 &&
             rules.synonyms[group].indexOf(so) >= 0;
    });
    return same.length === 1 ? same[0] : null;
  }

  function judgeNumber(spec, rules, text) {
    var r = readNumber(text, spec.unit, rules);
    if (r.status) return r;
    var x = r.value, want = spec.expected;
    if (close(x, want, spec.rtol_pass)) return fb(PASS, "correct.");
    var best = null, bestGap = Infinity;
    spec.hints.forEach(function (h) {
      if (!close(x, h.target, h.rtol)) return;
      var gap = h.target ? Math.abs(x - h.target) / Math.abs(h.target) : Math.abs(x);
      if (gap < bestGap) { best = h; bestGap = gap; }
    });
    if (best) return fb(FAIL, best.message);
    return fb(FAIL, direction(x, want, spec.unit, spec.miss, rules));
  }

  function judgeChoice(spec, rules, text) {
    var t = text.trim();
    if (!t) return fb(BLANK, "type your answer in the box, then press Check.");
    var opt = option(spec, rules, t);
    if (opt === null) {
      var ph = rules.placeholders;
      return fb(BAD, rules.messages.no_option.split(ph.answer).join("'" + t + "'")
                .split(ph.options).join(spec.options.map(function (o) {
                  return "'" + o + "'"; }).join(", ")));
    }
    var s = stem(opt);
    if (s === spec.expected) return fb(PASS, "correct.");
    for (var i = 0; i < spec.hints.length; i++)
      if (spec.hints[i].stem === s) return fb(FAIL, spec.hints[i].message);
    return fb(FAIL, rules.messages.other_option);
  }

  function judgeShape(spec, text) {
    var t = text.trim();
    if (!t) return fb(BLANK, "type your answer in the box, then press Check.");
    var inner = t.replace(/^[(\[]\s*/, "").replace(/\s*,?\s*[)\]]$/, "");
    var items = inner.split(/\s*(?:,|\u00d7)\s*|\s+x\s+|\s+/).filter(function (s) { return s; });
    var bad = items.filter(function (s) { return !/^\d+$/.test(s); });
    if (!items.length || bad.length)
      return fb(BAD, "expected a shape: whole numbers separated by commas, " +
                "such as (128, 512); " + (bad.length ? "\u201c" + bad[0] +
                "\u201d is not a whole number." : "nothing was read."));
    var got = items.map(Number), want = spec.expected;
    var same = function (a, b) {
      return a.length === b.length && a.every(function (v, i) { return v === b[i]; });
    };
    if (same(got, want)) return fb(PASS, "correct.");
    for (var i = 0; i < spec.hints.length; i++)
      if (same(spec.hints[i].value, got)) return fb(FAIL, spec.hints[i].message);
    if (got.length !== want.length)
      return fb(FAIL, "the shape should have " + want.length +
                " dimensions, yours has " + got.length + ".");
    var off = [];
    got.forEach(function (g, i) { if (g !== want[i]) off.push(i); });
    return fb(FAIL, "dimension(s) " + off.join(", ") + " are off. Which mesh axes split them?");
  }

  /* Judge one item.  `answers` is the text typed (an object by part key
   * for a structured item).  Exposed for the browser test. */
  function judge(spec, rules, answers) {
    if (spec.kind === "number") return judgeNumber(spec, rules, answers);
    if (spec.kind === "choice") return judgeChoice(spec, rules, answers);
    if (spec.kind === "shape") return judgeShape(spec, answers);
    if (spec.kind === "parts") {  // questions.Parts.judge
      var parts = spec.parts.filter(function (p) { return p.spec.kind !== "run"; });
      var res = parts.map(function (p) {
        return {key: p.key, fb: judge(p.spec, rules, answers[p.key] || "")};
      });
      if (res.every(function (r) { return r.fb.status === PASS; }))
        return fb(PASS, "correct on every part.");
      if (res.every(function (r) { return r.fb.status === BLANK; }))
        return fb(BLANK, "type your answers in the boxes, then press Check.");
      var open = res.filter(function (r) { return r.fb.status !== PASS; });
      var worst = open.reduce(function (a, r) {
        return SEVERITY[r.fb.status] > SEVERITY[a.fb.status] ? r : a;
      });
      var status = worst.fb.status === BLANK ? FAIL : worst.fb.status;
      return fb(status, open.map(function (r) {
        return r.key + ": " + (r.fb.status === BLANK ? "not attempted yet" : r.fb.message);
      }).join(" | "));
    }
    throw new Error("no box for " + spec.kind);
  }

  function show(box, data, verdict) {
    var out = box.querySelector(".sb-selfcheck-result");
    out.textContent = "";
    out.className = "sb-selfcheck-result sb-selfcheck-" + verdict.status.replace(" ", "-");
    var label = document.createElement("strong");
    label.textContent = data.rules.labels[verdict.status];
    out.appendChild(label);
    out.appendChild(document.createTextNode(" " + verdict.message));
  }

  function wire(box) {
    var script = box.querySelector("script.sb-selfcheck-spec");
    var form = box.querySelector("form");
    if (!script || !form) return;
    var data = JSON.parse(script.textContent);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var verdict;
      try {
        var answers;
        if (data.spec.kind === "parts") {
          answers = {};
          form.querySelectorAll("input[data-part]").forEach(function (input) {
            answers[input.getAttribute("data-part")] = input.value;
          });
        } else {
          answers = form.querySelector("input").value;
        }
        verdict = judge(data.spec, data.rules, answers);
      } catch (err) {  // never a console error: say it on the page
        verdict = fb("checker bug", "this box failed (" + err + "); please " +
                     "report it, and check the answer in Jupyter or Colab.");
        data.rules.labels["checker bug"] = data.rules.labels["checker bug"] || "BOOK BUG";
      }
      show(box, data, verdict);
    });
  }

  window.sbSelfCheck = {judge: judge};
  function start() {
    document.querySelectorAll(".sb-selfcheck").forEach(function (box) {
      try { wire(box); } catch (err) { /* a broken box stays inert */ }
    });
  }
  if (document.readyState === "loading")
    document.addEventListener("DOMContentLoaded", start);
  else start();
})();

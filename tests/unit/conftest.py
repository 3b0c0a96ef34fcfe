"""Library tests run with 8 simulated CPU devices, set before JAX starts."""
import scalebook

scalebook.use_cpu_devices(8)

"""EdgeCell digital twin: a MuJoCo robot cell served over ZeroMQ."""

__version__ = "0.1.0"

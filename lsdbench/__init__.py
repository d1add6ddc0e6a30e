"""lsdbench: benchmark suite and evaluation harness for protein sequence representations."""

__version__ = "0.1.0"
PROTOCOL = "lsdbench-probe-1"

"""The lshrs benchmark suite: ``python -m benchmarks`` (see ``docs/benchmarks.md``)."""

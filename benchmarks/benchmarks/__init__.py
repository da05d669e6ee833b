"""asv benchmark suite for sigcy (see ``benchmarks/asv.conf.json``)."""

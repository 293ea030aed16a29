"""Serving benchmark: latency in process / gRPC / REST and throughput with and without batching.

Thin entry point for `serving.benchmarks.main` (also `pg-model-server bench`); see
`python scripts/bench_serving.py --help`.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from serving.benchmarks import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

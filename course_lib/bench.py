"""``python -m course_lib.bench``: the course's benchmarks (``teaching.bench``; ``--train`` times one training
epoch of every model family, no option runs every chapter)."""

import sys

from .teaching.bench import main

if __name__ == "__main__":
    sys.exit(main())

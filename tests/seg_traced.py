"""``python tests/seg_traced.py ARGS``: ``seg ARGS`` with the suite's export memo (tests/traces.py)
over the folder that ``SEG_TEST_TRACES`` names. tests/terminal.py starts ``seg`` this way."""

import traces  # beside this file: the script's folder is the first on sys.path

traces.patch_on_import()

from seg.cli import main  # noqa: E402

main()

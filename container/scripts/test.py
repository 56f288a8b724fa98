"""The original toolbox example (ported to Python 3): greets and counts its parameters."""

import sys

print("Hello World From a Container")
print(f"{len(sys.argv) - 1} parameters passed")

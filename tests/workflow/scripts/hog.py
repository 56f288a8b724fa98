"""Takes memory until the kernel kills it: $MEGABYTES (default 2048) in 64 MiB steps."""

import os

held = []
for step in range(int(os.environ.get("MEGABYTES", "2048")) // 64):
    held.append(bytearray(64 * 1024 * 1024))
    print(f"holding {(step + 1) * 64} MiB", flush=True)
print("the kernel never stopped me")

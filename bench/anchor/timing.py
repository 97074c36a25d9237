"""`python -m bench.anchor.timing N`: the anchor view's time through Django's test client
(median, min and max of N requests, in ms, as JSON), for scale beside Keyturn's pages."""

import json
import os
import statistics
import sys
import time

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.anchor.settings"


def main() -> None:
    import django
    from django.test import Client

    django.setup()
    client = Client()
    for _ in range(5):  # warm up, as bench/pages does for Keyturn's pages
        client.get("/")
    timings = []
    for _ in range(int(sys.argv[1])):
        started = time.perf_counter()
        response = client.get("/")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    print(json.dumps({"median": statistics.median(timings), "min": min(timings),
                      "max": max(timings)}))


if __name__ == "__main__":
    main()

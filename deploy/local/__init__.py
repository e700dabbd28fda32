"""The local launcher behind `make run`: `python -m deploy.local [--services auth,catalog]`.

It starts an embedded Redis (unless SHOP_REDIS_URL is set), every domain service and then the
gateway as child processes, waits for each to be healthy, and stops them all on Ctrl-C.
The port table in `deploy.local.ports` is shared with the tests.
"""

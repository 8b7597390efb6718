# The classic `test:app`: the smallest WSGI application, a plain-text hello world.
#
#   unicorn --workers=2 test:app        (from this folder, or with --chdir examples)


def app(environ, start_response):
    body = b"Hello, World!\n"
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
    ])
    return iter([body])

# A small Flask application: a text page, a JSON endpoint and a form POST.
#
#   unicorn --chdir examples/flaskapp app:app       (needs Flask for the workers' Python)
import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask on Unicorn!\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/api/info")
def info():
    return jsonify(framework="flask", pid=os.getpid(), path=request.path, args=request.args.to_dict())


@app.route("/echo", methods=["GET", "POST"])
def echo():
    if request.method == "GET":
        return (
            '<form method="post"><input name="name"> <button>Send</button></form>\n',
            200,
            {"Content-Type": "text/html; charset=utf-8"},
        )
    name = request.form.get("name", "").strip()
    if not name:
        return jsonify(error="the form field 'name' is required"), 400
    return jsonify(hello=name)

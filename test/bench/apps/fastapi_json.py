"""The bench's FastAPI app: one JSON route."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello, World!", "items": [1, 2, 3]}

from services.content.service import build
from services.kit.server import run

if __name__ == "__main__":
    run("content", build)

from services.catalog.service import build
from services.kit.server import run

if __name__ == "__main__":
    run("catalog", build)

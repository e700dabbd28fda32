from services.kit.server import run
from services.reviews.service import build

if __name__ == "__main__":
    run("reviews", build)

from services.kit.server import run
from services.profile.service import build

if __name__ == "__main__":
    run("profile", build)

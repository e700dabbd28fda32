from services.activity.service import Settings, build
from services.kit.server import run

if __name__ == "__main__":
    run("activity", build, Settings)

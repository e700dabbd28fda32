from services.inventory.service import Settings, build
from services.kit.server import run

if __name__ == "__main__":
    run("inventory", build, Settings)

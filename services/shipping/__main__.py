from services.kit.server import run
from services.shipping.service import Settings, build

if __name__ == "__main__":
    run("shipping", build, Settings)

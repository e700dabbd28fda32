from services.kit.server import run
from services.orders.service import Settings, build

if __name__ == "__main__":
    run("orders", build, Settings)

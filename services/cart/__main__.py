from services.cart.service import Settings, build
from services.kit.server import run

if __name__ == "__main__":
    run("cart", build, Settings)

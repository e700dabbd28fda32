from services.kit.server import run
from services.payments.service import Settings, build

if __name__ == "__main__":
    run("payments", build, Settings)

"""``python -m simulator`` behaves exactly like the ``steersim`` console script."""

from simulator.cli import main

if __name__ == "__main__":
    main()

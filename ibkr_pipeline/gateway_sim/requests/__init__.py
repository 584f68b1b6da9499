"""What the simulated gateway answers, one module per area of the TWS API; ``ClientSession`` mixes them in."""

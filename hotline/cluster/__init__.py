"""Running Hotline on more than one box: the routing leader and its standby (leader.py,
node.py), the fencing epoch offers carry (offers.py)."""

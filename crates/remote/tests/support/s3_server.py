# A real S3-protocol server (moto) on 127.0.0.1 for the remote tests: prints the port it
# listens on, then serves until its standard input closes (the test process ended).
import logging
import os
import sys

from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
os._exit(0)

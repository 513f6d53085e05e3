# The fork + exec forgery, as an attacker running as the desktop user would do it: this process
# opens the bus connection (so the bus records *its* PID), forks, and then exec's an innocent
# program (git cat-file --batch in a repository) while the child keeps the connection and sends
# the request. The child runs `node sender.mjs`, which speaks D-Bus on the inherited socket.
#   argv: bus-socket-path repository node sender.mjs mode call-json
#   mode: "hello-first"  the child says Hello before the parent exec's (the bus daemon's view of
#                        the connection starts as python3, then changes)
#         "exec-first"   the parent exec's first, the child sends everything, Hello included
#         "request-first" the child says Hello and sends the request at once; the parent exec's
#                        when a line arrives on its stdin (the test sends it once the request waits)
import os
import socket
import sys

bus_path, repository, node, sender, mode, call = sys.argv[1:7]
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect(bus_path)
conn.set_inheritable(True)
# hello_r/hello_w: the child tells the parent it has said Hello. exec_r/exec_w: exec_w is
# close-on-exec, so the child reads end-of-file exactly when the parent's exec has happened.
hello_r, hello_w = os.pipe()
exec_r, exec_w = os.pipe()
os.set_inheritable(hello_w, True)
os.set_inheritable(exec_r, True)
if os.fork() == 0:
    os.execv(node, [node, sender, str(conn.fileno()), str(hello_w), str(exec_r), mode, call])
os.close(hello_w)
os.close(exec_r)
conn.close()
if mode in ("hello-first", "request-first"):
    os.read(hello_r, 1)
if mode == "request-first":
    os.read(0, 1)
os.chdir(repository)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout stays the child's: one JSON line per reply
os.execv("/usr/bin/git", ["git", "cat-file", "--batch"])

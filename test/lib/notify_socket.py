# A stand-in for systemd's notification socket (sd_notify): binds a unix datagram socket at argv[1],
# prints "bound", then one line per datagram (its text, JSON-quoted). Like systemd, it closes the file
# descriptors a message carries: systemd-notify's BARRIER=1 waits for exactly that.
import array
import json
import os
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    msg, ancillary, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps(msg.decode('utf-8', 'replace')), flush=True)

// qemu's guestfwd "cmd:" runs this once per guest connection: stdin/stdout <-> a TCP port on the
// host's loopback (the test's SMTP sink). With restrict=on this is the guest's only way out.
const net = require('node:net');
const [host, port] = process.argv.slice(2);
const socket = net.connect({ host, port: Number(port) });
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
process.stdin.on('end', () => socket.end());

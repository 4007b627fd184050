// A DNS block-list server for tests (dns2, UDP on loopback only). Names under a zone in `listedZones`
// get an A/AAAA answer 127.0.0.2 / ::ffff:127.0.0.2 when they are in `listed`, NXDOMAIN otherwise;
// queries under a zone in `silentZones` get no answer at all (for timeouts). Every query is recorded.
// Run as a script (`node --import tsx dnsbl-server.ts <listed-name>...`, e.g. inside a network
// namespace), it prints "listening <port>" and then one "query <type> <name>" line per query.
import dns2 from 'dns2';

const { Packet } = dns2;

export interface DnsblServer {
  port: number;
  queries: { name: string; type: number; from: string }[];
  close(): Promise<void>;
}

export interface DnsblServerOptions {
  listed: string[];
  silentZones?: string[];
}

export async function startDnsblServer(o: DnsblServerOptions, onQuery?: (name: string, type: number) => void): Promise<DnsblServer> {
  const queries: DnsblServer['queries'] = [];
  const listed = new Set(o.listed.map((n) => n.toLowerCase()));
  const server = dns2.createServer({
    udp: true,
    handle: (request, send, rinfo) => {
      const [question] = request.questions;
      if (!question) return;
      const name = question.name.toLowerCase();
      queries.push({ name, type: question.type, from: (rinfo as { address?: string }).address ?? '' });
      onQuery?.(name, question.type);
      if ((o.silentZones ?? []).some((z) => name.endsWith(`.${z}`))) return;
      const response = Packet.createResponseFromRequest(request);
      if (listed.has(name) && question.type === Packet.TYPE.A) {
        response.answers.push({ name: question.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address: '127.0.0.2' } as never);
      } else if (listed.has(name) && question.type === Packet.TYPE.AAAA) {
        response.answers.push({ name: question.name, type: Packet.TYPE.AAAA, class: Packet.CLASS.IN, ttl: 60, address: '::ffff:127.0.0.2' } as never);
      } else if (!listed.has(name)) {
        response.header.rcode = 3; // NXDOMAIN
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = (addresses as unknown as { udp: { port: number } }).udp.port;
  return { port, queries, close: () => server.close() };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const silent = args.filter((a) => a.startsWith('--silent=')).map((a) => a.slice('--silent='.length));
  const listed = args.filter((a) => !a.startsWith('--'));
  startDnsblServer({ listed, silentZones: silent }, (name, type) => process.stdout.write(`query ${type} ${name}\n`)).then(
    (s) => {
      process.stdout.write(`listening ${s.port}\n`);
      process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
    },
    (e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    },
  );
}

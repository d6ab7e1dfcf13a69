import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** An IPv4 address of this machine that is not loopback, if it has one. */
export function nonLoopbackIPv4(): string | undefined {
  for (const infos of Object.values(os.networkInterfaces())) {
    for (const info of infos ?? []) if (info.family === 'IPv4' && !info.internal) return info.address;
  }
  return undefined;
}

/** 'connected' or the error code of a TCP connection attempt. */
export function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

export interface Listener {
  /** Dotted IPv4 local address (IPv6 rows: the embedded IPv4 part, prefixed with the raw hex). */
  address: string;
  inode: string;
}

/** Listening TCP sockets on `port`, from /proc/net/tcp and /proc/net/tcp6 (Linux). */
export function listeners(port: number): Listener[] {
  const result: Listener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [hexAddr, hexPort] = (cols[1] ?? '').split(':');
      if (cols[3] !== '0A' || !hexAddr || Number.parseInt(hexPort ?? '', 16) !== port) continue;
      const v4 = hexAddr.slice(-8);
      const ip = [6, 4, 2, 0].map((i) => Number.parseInt(v4.slice(i, i + 2), 16)).join('.');
      result.push({ address: hexAddr.length === 8 ? ip : `${hexAddr}(${ip})`, inode: cols[9] ?? '' });
    }
  }
  return result;
}

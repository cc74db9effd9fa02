// Small helpers shared by the components' renderers. Pure, no I/O.
import type { Host, Role, Topology } from '../../topology/schema';
import { MANAGED_MARKER } from './component';

/**
 * The first lines of every file haflow writes. No timestamp on purpose: a renderer's output
 * must depend on the topology alone, so "look, then act only if different" sees no change
 * when nothing changed.
 */
export function managedHeader(topology: Topology, what: string): string[] {
  return [
    `${MANAGED_MARKER} (cluster ${topology.cluster}): ${what}.`,
    'Do not edit by hand: the next haflow run replaces this file (after a dated backup).',
  ];
}

/** The header as `# ` comment lines (haproxy.cfg, env files, unit files). */
export function hashComment(lines: string[]): string {
  return lines.map((l) => (l === '' ? '#' : `# ${l}`)).join('\n');
}

/** A systemd unit section: its name and its lines (comments start with `#`). */
export type UnitSection = [name: string, lines: string[]];

/** A unit file: the header as comments, then its sections. */
export function formatUnit(header: string[], sections: UnitSection[]): string {
  const body = sections.map(([name, lines]) => [`[${name}]`, ...lines].join('\n')).join('\n\n');
  return `${hashComment(header)}\n\n${body}\n`;
}

/** A renderer asked for a host that does not carry the role is a caller bug: say so plainly. */
export function requireRole(topology: Topology, host: Host, role: Role, file: string): void {
  if (!host.roles.includes(role)) {
    throw new Error(
      `cannot render ${file} for host ${host.name}: it does not have the ${role} role in cluster ${topology.cluster}`,
    );
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(address: string): boolean {
  return IPV4.test(address);
}

/** 127.0.0.0/8: every address in it lives on `lo`, which the lab uses for all its machines. */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || (isIpv4(address) && address.startsWith('127.'));
}

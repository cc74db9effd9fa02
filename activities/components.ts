// The components haflow installs, each in a folder of its own. This one list says which
// files haflow writes, which packages it installs and which services it stops, so that
// `haflow render`, preflight, the packages step and the install all agree.
import { hostOs } from '../topology/derive';
import type { Host, SecretRef, Topology } from '../topology/schema';
import { backupComponent } from './backup/component';
import { etcdComponent } from './etcd/component';
import { haproxyComponent } from './haproxy/component';
import { patroniComponent } from './patroni/component';
import { postgresComponent } from './postgres/component';
import type { Component, PackageFamily, SecretText } from './shared/component';
import type { ManagedFile } from './shared/remote-files';

/** In the order they are installed. */
export const COMPONENTS: readonly Component[] = [etcdComponent, haproxyComponent, postgresComponent, patroniComponent, backupComponent];

/** Whether the component runs on the host: its role, or its own rule. */
export function runsOn(component: Component, topology: Topology, host: Host): boolean {
  return component.runsOn ? component.runsOn(topology, host) : host.roles.includes(component.role);
}

export function componentsOn(topology: Topology, host: Host): Component[] {
  return COMPONENTS.filter((c) => runsOn(c, topology, host));
}

/** Every file haflow writes on a host, component by component. */
export function hostFiles(topology: Topology, host: Host, secret: SecretText): ManagedFile[] {
  return componentsOn(topology, host).flatMap((c) => c.files(topology, host, secret));
}

/** Stand-ins for passwords when files are shown rather than written: `<env HAFLOW_X>`. */
export const secretPlaceholder: SecretText = (ref: SecretRef) => ('env' in ref ? `<env ${ref.env}>` : `<file ${ref.file}>`);

/** Package names for a host's roles, component by component. */
export function packagesFor(topology: Topology, host: Host, family: PackageFamily): string[] {
  return [...new Set(componentsOn(topology, host).flatMap((c) => c.packages(topology, family)))];
}

/**
 * The OS releases the topology names for the hosts that get packages, each with those hosts (in
 * file order); hosts that name none are left out. A bundle holds one release's packages.
 */
export function osNamedForPackageHosts(topology: Topology): { os: string; hosts: string[] }[] {
  const named: { os: string; hosts: string[] }[] = [];
  for (const host of topology.hosts) {
    const os = hostOs(topology, host);
    if (os === undefined || packagesFor(topology, host, 'apt').length === 0) continue;
    const entry = named.find((n) => n.os === os);
    if (entry) entry.hosts.push(host.name);
    else named.push({ os, hosts: [host.name] });
  }
  return named;
}

/** Wanted packages for every host of the topology (apt names): what a bundle must hold. */
export function bundlePackagesFor(topology: Topology): string[] {
  return [...new Set(topology.hosts.flatMap((host) => packagesFor(topology, host, 'apt')))].sort();
}

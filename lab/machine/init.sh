#!/bin/bash
# PID 1's child inside a lab machine (tini is PID 1): gives the machine its own disk,
# /run and /tmp, starts its sshd and, when booting (not on first creation), the units
# enabled in its /etc/systemd/system. Runs in fresh mount, UTS, IPC and PID namespaces.
# Usage: init.sh <name> <address> <machine root> <lab bin dir> <first-boot: 1|0> <image|->
# The image is the root file system of another OS (its /usr below the machine's own): the
# machine pivots into its root. With `-` it runs the box's OS: LAB_PRIVATE_DIRS names the
# directories (relative to /) that the machine has its own copy of.
# The whole script is one function, read before it runs: a machine that pivots its root leaves
# this file behind.
main() {
set -eu
name=$1 address=$2 root=$3 labbin=$4 first_boot=$5 image=${6:--}

hostname "$name"
# Everything the machine starts inherits this directory, as units under systemd start in /: the
# directory `haflow lab boot` ran in may not exist here (/tmp is the machine's own), and
# PostgreSQL's tools fail when they cannot return to it.
cd /
# Nothing mounted here may leak to the host or to the other machines.
mount --make-rprivate /

if [ "$image" = - ]; then
  # The machine's disk: its own /etc, state directories (dpkg's and apt's too), logs, /opt and /data.
  for dir in $LAB_PRIVATE_DIRS; do
    mount --bind "$root/$dir" "/$dir"
  done
  # Its own /usr: the box's below, what the machine installs (a package upgrade) in its root.
  mount -t overlay overlay -o "lowerdir=/usr,upperdir=$root/usr.upper,workdir=$root/usr.work" /usr
  # A daemonless systemctl (Debian's `systemctl` package) and a journalctl that reads its logs.
  mount --bind "$labbin/systemctl" /usr/bin/systemctl
  mount --bind "$labbin/journalctl" /usr/bin/journalctl
else
  # Another OS: its whole root is the machine's disk, its /usr the image's below the machine's own.
  mount --bind "$root" "$root"
  mount -t overlay overlay -o "lowerdir=$image/usr,upperdir=$root/usr.upper,workdir=$root/usr.work" "$root/usr"
  for tool in systemctl journalctl; do
    [ -e "$root/usr/bin/$tool" ] || : >"$root/usr/bin/$tool"
    mount --bind "$labbin/$tool" "$root/usr/bin/$tool"
  done
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  # Every process of the machine (tini too) now has the machine's root; the box's is let go.
  cd "$root"
  pivot_root . .oldroot
  cd /
  umount -l /.oldroot
fi

# Volatile per boot, like a real machine's: a PostgreSQL socket lock or a pid file in a
# shared /run would collide between machines.
mount -t tmpfs -o mode=755,size=64m tmpfs /run
mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp
systemd-tmpfiles --create --prefix=/run >/dev/null 2>&1 || true
mkdir -p /run/sshd /run/lock /run/postgresql /run/haproxy /run/nginx
chown postgres:postgres /run/postgresql; chmod 2775 /run/postgresql
# While the boot starts the enabled units, a systemctl command sent over SSH waits for them (the
# lab's systemctl): under systemd it would see them activating and a stop would follow the start.
if [ "$first_boot" = 0 ]; then touch /run/lab-booting; fi

/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config >>/var/log/sshd.log 2>&1 &
sshd_pid=$!

stop_units() {
  # Graceful poweroff: stop what runs, like systemd at shutdown.
  for unit in $(LAB_BOOT=1 systemctl list-units --type=service --state=active --no-legend 2>/dev/null | awk '{print $1}'); do
    LAB_BOOT=1 systemctl stop "$unit" >/dev/null 2>&1 || true
  done
  kill "$sshd_pid" 2>/dev/null || true
  exit 0
}
trap stop_units TERM INT

if [ "$first_boot" = 0 ]; then
  # systemd runs its generators first: PostgreSQL's makes postgresql.service want each Debian
  # cluster whose start.conf says auto (the classic layout's databases start at boot so).
  generated=/run/systemd/generator
  mkdir -p "$generated"
  [ -x /lib/systemd/system-generators/postgresql-generator ] && /lib/systemd/system-generators/postgresql-generator "$generated" "$generated" "$generated" >>/var/log/boot.log 2>&1
  # In parallel, as systemd does: an etcd member waiting for its peers must not hold up the rest.
  starting=''
  for wants in /etc/systemd/system/multi-user.target.wants/*; do
    [ -e "$wants" ] || continue
    unit=$(basename "$wants")
    LAB_BOOT=1 systemctl start "$unit" >>/var/log/boot.log 2>&1 &
    starting="$starting $!"
    # systemd gives up on a forking unit whose PID file never appears; this systemctl would wait 45 s.
    for wanted in $(ls "$generated/$unit.wants" 2>/dev/null); do
      LAB_BOOT=1 timeout 10 systemctl start "$wanted" >>/var/log/boot.log 2>&1 &
      starting="$starting $!"
    done
  done
  for pid in $starting; do wait "$pid" || true; done
  rm -f /run/lab-booting
fi
# The lab's `boot` returns once this exists: sshd answers and the enabled units were started.
touch /run/lab-booted
echo "booted $name $address"
while :; do sleep 3600 & wait $! || true; done
}
main "$@"; exit

#!/usr/bin/env bash
# A plain install, no orchestration: the remote commands of a recorded haflow install
# (bench/install-vs-script.ts writes them) run one after another over SSH, the health checks
# with curl and the write check with psql. A command the install repeated until it saw what it
# waited for is repeated here the same way: `until <it gives that>; do sleep <interval>; done`.
# A command that succeeded in the install must succeed here; the script stops at the first that does not.
# Usage: install-script.sh <recording dir> <ssh private key> <known_hosts> [mux|new]
#   mux: one SSH connection per host for the whole script (ControlMaster); new: one per command.
set -uo pipefail

dir=$1 key=$2 known_hosts=$3 mode=${4:-mux}
ssh_options=(-i "$key" -o UserKnownHostsFile="$known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10)
if [ "$mode" = mux ]; then
  ssh_options+=(-o ControlMaster=auto -o ControlPath="$dir/ssh-%r@%h:%p" -o ControlPersist=60)
fi
masters=()
retried=0

close_masters() {
  local target
  for target in "${masters[@]}"; do ssh "${ssh_options[@]}" -O exit "$target" 2>/dev/null || true; done
}
trap close_masters EXIT

# Fills the placeholders @@OUTPUT_<k>@@ in file $1 with what entry k printed this time.
filled() {
  OUTPUTS="$dir" perl -0pe 's/\@\@OUTPUT_(\d+)\@\@/my $f = "$ENV{OUTPUTS}\/$1.got"; open(my $h, "<", $f) or die "no output of entry $1"; local $\/; my $o = <$h>; $o =~ s{^\s+|\s+$}{}g; $o/ge' "$1"
}

# Runs entry $1 once; its output goes to $dir/$1.got; returns the exit code (SSH), the HTTP status, or 0/1 (SQL).
run_once() {
  local n=$1 via=$2 address=$3 port=$4 user=$5 database=$6 fill=$7 input=/dev/null line
  [ -f "$dir/$n.in" ] && input="$dir/$n.in"
  if [ "$fill" = 1 ]; then
    line=$(filled "$dir/$n.cmd")
    if [ -f "$dir/$n.in" ]; then
      input="$dir/$n.in.now"
      filled "$dir/$n.in" >"$input"
    fi
  else
    line=$(<"$dir/$n.cmd")
  fi
  case $via in
    ssh)
      ssh "${ssh_options[@]}" -p "$port" "$user@$address" "$line" <"$input" >"$dir/$n.got" 2>/dev/null
      ;;
    http)
      local status
      local header=()
      [ -f "$dir/$n.auth" ] && header=(-H "@$dir/$n.auth")
      status=$(curl -s "${header[@]}" -o "$dir/$n.got" -w '%{http_code}' --max-time 3 "$line")
      echo "$status" >"$dir/$n.status"
      return 0
      ;;
    sql)
      PGPASSWORD=$(cat "$dir/$n.pgpass") PGCONNECT_TIMEOUT=3 psql -h "$address" -p "$port" -U "$user" -d "$database" \
        -v ON_ERROR_STOP=1 -qAt -c "$line" >"$dir/$n.got" 2>/dev/null
      ;;
  esac
}

# Did entry $1's last run give what the install saw (exit code or status, and the output when it was waited for)?
gave_expected() {
  local n=$1 via=$2 code=$3 expect=$4
  if [ "$via" = http ]; then code=$(<"$dir/$n.status"); fi
  [ "$code" = "$expect" ] || return 1
  [ ! -f "$dir/$n.out" ] || cmp -s "$dir/$n.out" "$dir/$n.got"
}

while IFS=$'\t' read -r n kind via address port user expect interval database fill; do
  # Each entry's start time, for the time per step (a builtin: no process per entry).
  echo "$n $EPOCHREALTIME" >>"$dir/times"
  if [ "$via" = ssh ] && [ "$mode" = mux ] && [[ ! " ${masters[*]} " =~ " $user@$address " ]]; then masters+=("$user@$address"); fi
  case $kind in
    run)
      run_once "$n" "$via" "$address" "$port" "$user" "$database" "$fill"
      code=$?
      # A command that succeeded in the install and fails here ran sooner than the install ran it
      # (a replica not caught up yet): retried for up to 60 s, as a script written by hand would wait.
      if [ "$via" = ssh ] && [ "$expect" = 0 ] && [ "$code" != 0 ]; then
        retried=$((retried + 1))
        deadline=$((SECONDS + 60))
        until [ "$code" = 0 ] || [ $SECONDS -ge $deadline ]; do
          sleep 0.5
          run_once "$n" "$via" "$address" "$port" "$user" "$database" "$fill"
          code=$?
        done
        if [ "$code" != 0 ]; then
          echo "entry $n on $address exited with $code: $(head -c 300 "$dir/$n.cmd")" >&2
          exit 1
        fi
      fi
      ;;
    poll)
      deadline=$((SECONDS + 240))
      until run_once "$n" "$via" "$address" "$port" "$user" "$database" "$fill"; code=$?; gave_expected "$n" "$via" "$code" "$expect"; do
        if [ $SECONDS -ge $deadline ]; then
          echo "entry $n on $address did not give $expect within 240 s: $(head -c 300 "$dir/$n.cmd")" >&2
          exit 1
        fi
        sleep "$interval"
      done
      ;;
  esac
done <"$dir/plan.tsv"
echo "end $EPOCHREALTIME" >>"$dir/times"
echo "retried $retried commands"

#!/usr/bin/env bash
# Start a real single-node SLURM (munge + slurmctld + slurmd) for CI; records the PIDs it started.
# Usage: .ci/slurm/start.sh STATE_DIR   (stop with .ci/slurm/stop.sh STATE_DIR)
# Needs root and Debian's slurm-wlm/munge packages (installed here if missing).
set -euo pipefail
state=${1:?state dir}
mkdir -p "$state"
if ! command -v slurmctld >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
fi
host=localhost
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /etc/munge
# A fake GPU: GPU rules are scheduled with --gpus and get CUDA_VISIBLE_DEVICES, but run on the CPU.
cat > /etc/slurm/gres.conf <<CONF
NodeName=$host Name=gpu File=/dev/null
CONF
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=$host
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
MinJobAge=600
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=8 RealMemory=16000 Gres=gpu:1 State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
munged --pid-file="$state/munged.pid" -f
slurmctld
slurmd -N "$host"
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -q idle && timeout 10 srun -N1 -n1 true 2>/dev/null; then
    echo "slurm up: $(sinfo -h -o '%P %D %T %G')"
    exit 0
  fi
  sleep 1
done
echo "slurm did not come up; logs:" >&2
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1

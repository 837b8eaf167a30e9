# simplecloud — the two commands: `make up` (bring the lab up) and `make test`.
# Run as root on Debian 12 / Ubuntu; every step installs or starts what it needs.
# Each step prints one line, logs to .simplecloud/logs/<step>.log, and on
# failure names the step and the log to read.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV    := .venv
# the test tiers' extras (a variable: a comma would split $(call step,...))
TEST_EXTRAS := lab,test,bench
PY      := $(VENV)/bin/python
LOGS    := .simplecloud/logs
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The lab's provider: LAB_PROVIDER, else that of the machines the lab has
# (Vagrant's state), else lab.local.yml's, else lab.yml's (the Vagrantfile
# reads the same); Vagrant's default provider follows it.
LAB_PROVIDER ?= $(or $(shell ls .vagrant/machines/*/*/id 2>/dev/null | awk -F/ '{print $$(NF-1)}' | sort | head -n 1),\
                     $(shell sed -n 's/^provider: *\([a-z]*\).*/\1/p' lab.local.yml 2>/dev/null),\
                     $(shell sed -n 's/^provider: *\([a-z]*\).*/\1/p' lab.yml))
export LAB_PROVIDER
export VAGRANT_DEFAULT_PROVIDER := $(LAB_PROVIDER)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The entry point's virtual IP (inventory/group_vars/all.yml).
LAB_VIP := $(shell sed -n 's/^lab_vip: *\([0-9.]*\).*/\1/p' inventory/group_vars/all.yml)

# What the lab needs on this machine (make up): the engine, Vagrant, the base
# image's debootstrap, Python for the venv, and ssh for Ansible. Installed
# without Recommends (104 MB instead of 600: vagrant's recommend alone,
# vagrant-libvirt, brings QEMU and libguestfs), so the recommends that are
# wanted are named: docker.io's apparmor, ca-certificates, cgroupfs-mount and
# xz-utils, debootstrap's keyring. The VM tier's libvirt packages come with it.
HOST_PACKAGES := docker.io apparmor ca-certificates cgroupfs-mount xz-utils vagrant \
                 debootstrap debian-archive-keyring python3-venv openssh-client
# Test-only, installed by the targets that use them: the integration tier's
# real etcd, HAProxy and sshd (make test-integration, test-browser), the
# browser tier's chromium (make test-browser), bench's wrk (make bench).
TEST_PACKAGES    := haproxy etcd-server etcd-client curl socat openssh-server
BROWSER_PACKAGES := chromium
BENCH_PACKAGES   := wrk
# The lab tier's Vagrantfile tests (make test-lab) ask `vagrant status` of the
# libvirt provider without any VM: its plugin alone, without Recommends
# (libvirtd and QEMU come with make test-vm).
LAB_TEST_PACKAGES := vagrant-libvirt
# `make box` only (the VM lab's box): a root filesystem, ext4 and qcow2 images.
BOX_PACKAGES  := e2fsprogs qemu-utils
# VMs (LAB_PROVIDER=libvirt, make test-vm): libvirt and QEMU (TCG where there is no KVM).
LIBVIRT_PACKAGES := libvirt-daemon-system qemu-system-x86 qemu-utils vagrant-libvirt dnsmasq-base
# The one machine definition (images/machine/deploy.py) and what it reads.
MACHINE_FILES := $(wildcard images/machine/*.py images/machine/*.sh images/machine/box.Vagrantfile images/machine/files/*)
HOST_IMAGE    := simplecloud/host
DEPS          := images/build/deps
BOX           := images/build/simplecloud.box

# step NAME COMMAND...: run COMMAND with its output in $(LOGS)/NAME.log
define step
	@mkdir -p $(LOGS); printf '==> %-28s' "$(1)"; start=$$(date +%s); \
	if ( $(2) ) >$(LOGS)/$(1).log 2>&1; then echo "ok ($$(( $$(date +%s) - start ))s)"; \
	else echo "FAILED"; echo "make: step '$(1)' failed; read $(LOGS)/$(1).log (last lines below)"; \
	     tail -n 15 $(LOGS)/$(1).log | sed 's/^/    /'; exit 1; fi
endef

.PHONY: help up down provision status machines deps deps-wheels base-image test-deps browser-deps bench-deps lab-test-deps box-deps libvirt engine venv test-venv images box wheels \
        test test-unit test-integration test-browser test-lab test-infra test-byo test-vm vm-tier vm-destroy \
        byo bench clean

help:
	@echo "make up                 bring the lab up (container lab by default)"
	@echo "make test               every test tier: unit, integration, browser, lab, byo, vm"
	@echo "make test-unit|test-integration|test-browser|test-lab   one tier"
	@echo "make byo INVENTORY=F    your own machines (an inventory of SSH hosts): provisioned, then tests/infra"
	@echo "make test-byo           make byo, simulated: two machines started outside Vagrant, removed after"
	@echo "make test-vm            one pod-host VM (libvirt), provisioned, tests/infra's single_host tests, destroyed"
	@echo "make provision          re-run the playbooks against the running lab"
	@echo "make status             what is running and where"
	@echo "make bench              benchmarks (host link, healing, Swarm side by side), figures printed"
	@echo "make down               remove every lab machine, volume and network"
	@echo "make box                the VM lab's Vagrant box, built offline ($(BOX))"

# ---------------------------------------------------------------- host setup
# apt_install PACKAGES[,APT-OPTIONS]: install those that are missing
define apt_install
	  missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	    [ "$$(id -u)" = 0 ] || { echo "run as root to install: $$missing"; exit 1; }; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2) $$missing; \
	  else echo "all present"; fi
endef

# The host packages, then the venv beside the engine and the base image
# (pip and debootstrap side by side: each waits on the network much of the
# time). -Oline: each step's line whole, when it ends.
deps:
	$(call step,host-packages,$(call apt_install,$(HOST_PACKAGES),--no-install-recommends))
	@$(MAKE) --no-print-directory -j2 -Oline venv base-image

base-image: engine
	$(call step,base-image,images/base.sh)

# The test tiers' own packages (TEST_PACKAGES and the like, above).
test-deps: deps test-venv
	$(call step,test-packages,$(call apt_install,$(TEST_PACKAGES)))

browser-deps:
	$(call step,browser-packages,$(call apt_install,$(BROWSER_PACKAGES)))

bench-deps:
	$(call step,bench-packages,$(call apt_install,$(BENCH_PACKAGES)))

lab-test-deps:
	$(call step,lab-test-packages,$(call apt_install,$(LAB_TEST_PACKAGES),--no-install-recommends))

box-deps:
	$(call step,box-packages,$(call apt_install,$(BOX_PACKAGES)))

# libvirt's daemons: systemd's units when systemd runs, else started here
# (build containers without systemd); ready when virsh answers.
libvirt:
	$(call step,libvirt-packages,$(call apt_install,$(LIBVIRT_PACKAGES)))
	$(call step,libvirt-daemon,\
	  if virsh -c qemu:///system version >/dev/null 2>&1; then echo "libvirtd answers"; \
	  elif [ -d /run/systemd/system ]; then systemctl start virtlogd libvirtd; \
	  else pgrep -x virtlogd >/dev/null || virtlogd -d; pgrep -x libvirtd >/dev/null || libvirtd -d; fi; \
	  for i in $$(seq 1 30); do virsh -c qemu:///system version >/dev/null 2>&1 && exit 0; sleep 1; done; \
	  echo "libvirtd did not answer in 30 s"; exit 1)

# Two steps of one venv: `make up` installs the project with what the lab
# needs (extra `lab`: pyinfra, Ansible, ansible-runner, mitogen); the test
# tiers and the benches add theirs (`test`, `bench`) when they first run.
venv: $(VENV)/.installed-lab
$(VENV)/.installed-lab: pyproject.toml
	$(call step,python-venv,\
	  { [ -x $(PY) ] || python3 -m venv $(VENV); } && $(PY) -m pip install -q -U pip && \
	  $(PY) -m pip install -q -e '.[lab]')
	@touch $@

test-venv: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/.installed-lab
	$(call step,python-venv-tests,$(PY) -m pip install -q -e '.[$(TEST_EXTRAS)]')
	@touch $@

# Start a Docker engine if none answers (systemd when it runs, else in the background).
engine:
	$(call step,docker-engine,\
	  if docker info >/dev/null 2>&1; then echo "engine answers"; \
	  elif [ -d /run/systemd/system ]; then systemctl start docker; \
	  else mkdir -p /var/log/simplecloud; nohup dockerd >/var/log/simplecloud/dockerd.log 2>&1 & \
	  fi; for i in $$(seq 1 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; \
	  echo "dockerd did not answer in 60 s; see /var/log/simplecloud/dockerd.log"; exit 1)

# The container lab's machine image: the machine deploy through pyinfra's
# @docker connector; rebuilt when images/machine/ or the base image changed,
# or when the engine no longer has it. (The job images are built on the
# manager by role worker_images, with images/jobs/build.sh.)
images: deps deps-wheels
	@docker image inspect $(HOST_IMAGE) >/dev/null 2>&1 || rm -f images/build/host.stamp
	@$(MAKE) --no-print-directory images/build/host.stamp

images/build/host.stamp: $(MACHINE_FILES) images/build/base.id images/build/deps.stamp
	$(call step,host-image,images/machine/build-host.sh $(HOST_IMAGE))
	@touch $@
images/build/base.id: ;   # written by images/base.sh

# The VM lab's box (libvirt): the container lab's machine image's files, the
# same machine deploy through pyinfra's @chroot connector (the VM's own
# parts), ext4, qcow2, kernel and initrd beside it.
# A box added without version metadata is never replaced by Vagrant itself
# (it keeps using the first one it added), so a new box is added here; the
# base images of older ones leave libvirt's pool when no lab VM exists.
BOX_NAME := $(shell sed -n '/^libvirt:/,/^[a-z]/s/^ *box: *\([^ ]*\).*/\1/p' lab.yml)
box: $(BOX)
$(BOX): $(MACHINE_FILES)
	@$(MAKE) --no-print-directory box-deps venv images
	$(call step,box,images/machine/build-box.sh $(BOX) $(HOST_IMAGE))
	$(call step,box-add,cd / && vagrant box add --force --name $(BOX_NAME) $(CURDIR)/$(BOX); \
	  prefix="$$(echo $(BOX_NAME) | sed 's|/|-VAGRANTSLASH-|')_vagrant_box_image_"; \
	  if command -v virsh >/dev/null && [ -z "$$(virsh -c qemu:///system list --all --name 2>/dev/null | grep .)" ]; then \
	    for v in $$(virsh -c qemu:///system vol-list default 2>/dev/null | awk -v p="$$prefix" 'index($$1, p) == 1 {print $$1}'); do \
	      virsh -c qemu:///system vol-delete --pool default $$v; done; fi)

# ---------------------------------------------------------------- the lab
# The provider comes from lab.yml / LAB_PROVIDER (VAGRANT_DEFAULT_PROVIDER above).
# Containers come up side by side (Vagrant's docker provider can); VMs one
# at a time (under TCG, four booting at once starve each other).
# The wheels are built while the machines start.
up: images $(if $(filter libvirt,$(LAB_PROVIDER)),libvirt box)
	@$(MAKE) --no-print-directory -j2 -Oline machines wheels
	@$(MAKE) --no-print-directory provision
	@$(MAKE) --no-print-directory status

machines:
	$(call step,machines,SIMPLECLOUD_REPLACE_OTHER_LAB=1 vagrant up --no-provision \
	  $(if $(filter docker,$(LAB_PROVIDER)),--parallel,--no-parallel))
	@grep -ho 'simplecloud: replacing .*' $(LOGS)/machines.log | sed 's/^/    /' || true

# Wheels of the project and its dependencies for the manager's offline install.
# setuptools' build/ is removed first: it keeps modules that no longer exist
# and would ship them in the wheel.
# SOURCE_DATE_EPOCH makes the project's wheel byte-for-byte reproducible, so an
# unchanged tree does not reinstall (and restart) the orchestrator.
# One archive of them (role orchestrator copies one file, not some 40),
# rebuilt only when the project changed; tar's fixed order, owners and times
# make an unchanged tree give the same bytes.
WHEEL_SOURCES := pyproject.toml $(shell find orchestrator -type f -not -name '*.pyc' 2>/dev/null)
wheels: images/build/wheels.tar
images/build/wheels.tar: $(WHEEL_SOURCES) images/build/deps.stamp | venv
	$(call step,wheels,rm -rf build images/build/wheels; \
	  SOURCE_DATE_EPOCH=315532800 $(PY) -m pip wheel -q --no-cache-dir --no-deps -w images/build/wheels . && \
	  tar --sort=name --mtime=@315532800 --owner=0 --group=0 --numeric-owner -cf $@ \
	    -C $(DEPS) . -C $(CURDIR)/images/build/wheels .)

# The dependencies' wheels: pyproject.toml's [project] dependencies, remade
# (from PyPI) only when that list changed. The host image's venv has them
# installed (images/machine/deploy.py), so a manager installs only simplecloud
# itself; the wheels archive carries them for machines from elsewhere.
# requirements.txt is rewritten only when the list differs (make compares its
# time, so editing the rest of pyproject.toml rebuilds nothing).
deps-wheels: images/build/deps.stamp
$(DEPS)/requirements.txt: pyproject.toml | venv
	@mkdir -p $(DEPS); $(PY) -c 'import tomllib; \
	  print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' >$@.new; \
	  if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
images/build/deps.stamp: $(DEPS)/requirements.txt | venv
	$(call step,deps-wheels,rm -f $(DEPS)/*.whl; $(PY) -m pip wheel -q -w $(DEPS) -r $<)
	@touch $@

# playbooks/provision.py (ansible-runner): a line per play and task with each
# host's outcome, a summary per host; Ansible's output in $(LOGS)/provision.log.
provision: venv wheels
	@echo "==> provision (site.yml through ansible-runner; Ansible's output: $(LOGS)/provision.log)"
	@$(PY) playbooks/provision.py -e lab_provider=$(LAB_PROVIDER) | sed -u 's/^/    /'
	@touch .vagrant/simplecloud-provisioned   # plain `vagrant up` then does not provision again

status:
	@echo "simplecloud lab ($(LAB_PROVIDER)):"
	@if [ "$(LAB_PROVIDER)" = docker ]; then \
	  docker ps --filter label=simplecloud.lab=1 --format '    {{.Names}}\t{{.Status}}\t{{.Ports}}' | sed 's/0.0.0.0/127.0.0.1/g'; \
	else vagrant status --machine-readable | awk -F, '$$3 == "state-human-short" {print "    " $$2 "\t" $$4}'; fi
	@echo "  apps:      curl http://$(LAB_VIP)/light   (the virtual IP; manager-1's HAProxy also on http://127.0.0.1:8080)"
	@echo "  managers:  .venv/bin/cloud manager ls   (HAProxy stats: vagrant ssh manager-1 -c 'curl -s 127.0.0.1:8404/stats')"
	@echo "  SSH:       vagrant ssh NAME   (NAME: manager-1, pod-light-1, ... as listed above, without simplecloud-)"
	@echo "  logs:      $(LOGS)/"

down:
	$(call step,destroy-machines,vagrant destroy -f || true; \
	  docker rm -f $$(docker ps -aq --filter label=simplecloud.lab=1) 2>/dev/null || true)
	$(call step,remove-volumes,\
	  for v in $$(docker volume ls -q | grep -E '^simplecloud-.*-docker$$' || true); do docker volume rm $$v; done)
	$(call step,remove-networks,\
	  for n in $$(docker network ls --format '{{.Name}}' | grep -E '^vagrant_network' || true); do docker network rm $$n; done)
	@rm -f .vagrant/ssh-config .vagrant/lab_ed25519 .vagrant/lab_ed25519.pub; echo "lab removed (images and the registries' blobs kept for a fast next 'make up')"

# ---------------------------------------------------------------- tests
# pytest's exit code 5 ("no tests ran") is a failure here, never a pass.
PYTEST := $(PY) -m pytest -p no:cacheprovider

# test-vm last, beside the lab that test-lab leaves up (it has its own
# subnets); how long each tier takes: see docs/measurements.md.
test: test-unit test-integration test-browser test-lab test-byo test-vm
	@echo "all test tiers passed"

test-unit: test-venv
	$(VENV)/bin/ruff check orchestrator tests bench
	$(VENV)/bin/mypy
	$(PYTEST) tests/unit -q
	ansible-lint --offline --profile production --nocolor -q playbooks/site.yml roles/

test-integration: test-deps deps-wheels   # deps-wheels: the machine image's test builds with them
	$(PYTEST) tests/integration -q

# The dashboard in Debian's chromium, driven by Playwright, against a real
# manager on this machine (the integration tier's etcd, HAProxy and dockerd).
test-browser: test-deps browser-deps
	$(PYTEST) tests/browser -q

# testinfra reaches the machines through .vagrant/ssh-config (tests/infra/conftest.py).
test-lab: up test-venv lab-test-deps
	$(PYTEST) tests/infra tests/lab -q --durations=15

test-infra: test-venv
	$(PYTEST) tests/infra -q

# Machines you bring (docs/lab.md, "Your own machines"): an Ansible inventory of
# SSH hosts (inventory/byo/hosts.example.yml); site.yml through
# playbooks/provision.py, then tests/infra against them (playbooks/byo.py).
byo: test-venv wheels base-image
	@test -n "$(INVENTORY)" || { echo "usage: make byo INVENTORY=path/to/hosts.yml (see inventory/byo/hosts.example.yml)"; exit 2; }
	$(PY) playbooks/byo.py $(INVENTORY)

# `make byo`, simulated (tests/byo/simulate.py): a manager and a pod host
# started with plain `docker run` on their own network (192.168.57.0/24,
# beside the lab), their inventory written, `playbooks/byo.py` run, the
# machines removed, pass or fail.
test-byo: images wheels test-venv
	@start=$$(date +%s); \
	if $(PY) tests/byo/simulate.py; then echo "test-byo passed ($$(( $$(date +%s) - start ))s)"; \
	else echo "test-byo FAILED ($$(( $$(date +%s) - start ))s)"; exit 1; fi

# The VM tier: one pod host as a real VM (libvirt; TCG without KVM), its own
# lab (tests/vm/hosts.yml: own domain, networks and subnets, no manager) in
# its own Vagrant state, provisioned by site.yml like the lab's pod hosts,
# then tests/infra's single_host tests; the VM is destroyed, pass or fail.
VM_ENV := LAB_PROVIDER=libvirt VAGRANT_DEFAULT_PROVIDER=libvirt LAB_INVENTORY=$(CURDIR)/tests/vm/hosts.yml \
          VAGRANT_DOTFILE_PATH=$(CURDIR)/.simplecloud/vm/vagrant SIMPLECLOUD_REPLACE_OTHER_LAB=1
VM_NETWORKS := simplecloud-vm simplecloud-vm-mgmt

test-vm: test-venv libvirt box   # libvirt first: it brings vagrant, whose key the box needs
	@start=$$(date +%s); \
	if $(MAKE) --no-print-directory vm-tier; then $(MAKE) --no-print-directory vm-destroy; \
	  echo "test-vm passed ($$(( $$(date +%s) - start ))s)"; \
	else $(MAKE) --no-print-directory vm-destroy; echo "test-vm FAILED ($$(( $$(date +%s) - start ))s)"; exit 1; fi

vm-tier:
	$(call step,vm-leftovers,$(VM_ENV) vagrant destroy -f)
	$(call step,vm-up,$(VM_ENV) vagrant up --no-provision)
	$(call step,vm-provision,$(VM_ENV) $(PY) playbooks/provision.py -e lab_provider=libvirt)
	$(call step,vm-tests,$(VM_ENV) $(PYTEST) tests/infra -m single_host -v)

# The VM, its disks and its networks (the box's image stays in libvirt's pool).
vm-destroy:
	$(call step,vm-destroy,$(VM_ENV) vagrant destroy -f; \
	  for n in $(VM_NETWORKS); do virsh -c qemu:///system net-info $$n >/dev/null 2>&1 || continue; \
	    virsh -c qemu:///system net-destroy $$n || true; virsh -c qemu:///system net-undefine $$n; done)

# Benchmarks print figures; they are not tests (bench/README.md).
bench: up bench-deps test-venv
	cd bench && ../$(PY) host_link_bench.py
	cd bench && ../$(PY) autoscale_bench.py

clean: down
	for v in $$(docker volume ls -q | grep -E '^simplecloud-.*-registry$$' || true); do docker volume rm -f $$v >/dev/null; done
	rm -rf $(VENV) .simplecloud images/build

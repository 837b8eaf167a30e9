"""What a simplecloud machine is made of, as plain data: read by the pyinfra
deploy (deploy.py) and by the tests that check a built image."""

# The packages the roles install (common, docker_engine, etcd, haproxy, keepalived, registry, orchestrator).
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3", "python3-apt",
    "iproute2", "iptables", "iputils-ping", "ca-certificates", "curl", "procps", "kmod", "less",
    "docker.io", "haproxy", "etcd-server", "etcd-client", "docker-registry", "socat", "python3-venv",
    "keepalived", "pigz",
]
# The orchestrator's venv (role orchestrator's orchestrator_venv), made here
# with simplecloud's dependencies (from make deps-wheels): the role installs
# only simplecloud itself into it, and makes it only where it is missing
# (python3 -m venv takes 16 s on three managers at once, the dependencies 19 s).
ORCHESTRATOR_VENV = "/opt/simplecloud/venv"
# A VM boots its own kernel (direct kernel boot: no boot loader), brings up
# its first NIC by DHCP, formats its data disk and keeps its clock (role common).
VM_PACKAGES = ["linux-image-amd64", "initramfs-tools", "ifupdown", "isc-dhcp-client", "e2fsprogs",
               "systemd-timesyncd"]
# Installed with the packages, started by the roles only.
DISABLED = ["docker.service", "docker.socket", "containerd.service", "haproxy.service", "keepalived.service",
            "etcd.service", "docker-registry.service"]
# What a container cannot or need not run.
CONTAINER_MASKED = ["getty@tty1.service", "console-getty.service", "systemd-udevd.service",
                    "systemd-modules-load.service", "sys-kernel-config.mount",
                    "sys-kernel-debug.mount"]
# Vagrant's insecure key pair, from the installed vagrant (Debian package or upstream).
VAGRANT_KEY_DIRS = ["/usr/share/rubygems-integration/all/gems/vagrant-*/keys",
                    "/opt/vagrant/embedded/gems/gems/vagrant-*/keys"]

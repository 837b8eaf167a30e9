# Helpers of the simplecloud Vagrantfile: reading the lab's settings and
# inventory, SSH keys and ssh-config, what a fresh clone lacks, another lab
# holding this lab's names and ports, and when to provision. The Vagrantfile
# holds the settings (constants) and `Vagrant.configure`; these functions
# read those constants when they are called.
require "yaml"
require "fileutils"

def deep_merge(base, over)
  base.merge(over) { |_, a, b| a.is_a?(Hash) && b.is_a?(Hash) ? deep_merge(a, b) : b }
end

# ---------------------------------------------------------------- settings
# `vagrant up --provider=X` naming another provider than the lab's would make a
# lab whose SSH settings and playbooks disagree with it.
def provider_flag
  ARGV.each_with_index do |arg, i|
    return arg.split("=", 2)[1] if arg.start_with?("--provider=")
    return ARGV[i + 1] if arg == "--provider"
  end
  nil
end

# The provider of the machines this lab already has (in Vagrant's state
# directory), or nil: a lab brought up with LAB_PROVIDER=libvirt stays a
# libvirt lab for `vagrant ssh`, `make test-lab` and the rest until it is
# destroyed, whatever lab.yml says (playbooks/provision.py and the Makefile
# read it the same way).
def running_provider(state_dir)
  Dir.glob(File.join(state_dir, "machines", "*", "*", "id")).map { |f| File.basename(File.dirname(f)) }.min
end

# lab.yml, lab.local.yml over it, then the provider: the running lab's, else
# LAB_PROVIDER, else the files'.
def load_lab_settings
  settings = YAML.load_file(File.join(ROOT, "lab.yml"))
  local = File.join(ROOT, "lab.local.yml")
  settings = deep_merge(settings, YAML.load_file(local) || {}) if File.exist?(local)
  settings["provider"] = RUNNING_PROVIDER || settings["provider"]
  settings["provider"] = ENV["LAB_PROVIDER"] unless ENV["LAB_PROVIDER"].to_s.empty?
  provider = settings["provider"]
  PROVIDERS.include?(provider) ||
    abort("simplecloud: provider #{provider.inspect} in lab.yml or LAB_PROVIDER: use one of #{PROVIDERS.join(", ")}")
  flag = provider_flag
  flag.nil? || flag == provider ||
    abort("simplecloud: the lab's provider is #{provider}; choose it with LAB_PROVIDER=#{flag} (or lab.yml), not --provider")
  settings[provider] ||= {}
  settings[provider]["box"] = ENV["LAB_BOX"] if ENV["LAB_BOX"] && provider != "docker"
  settings
end

# The inventory file of the lab: LAB_INVENTORY, else lab.yml's
# <provider>.inventory, else inventory/hosts.yml (relative to ROOT).
def lab_inventory
  return ENV["LAB_INVENTORY"] unless ENV["LAB_INVENTORY"].to_s.empty?
  LAB[PROVIDER]["inventory"] || "inventory/hosts.yml"
end

# The machines: every host of the inventory (INVENTORY) with the groups it is
# in (nested children included), its inline vars and its host_vars. The
# managers come up last: the provisioner runs once, from the last machine,
# against all of them.
def inventory_machines
  inventory = YAML.load_file(INVENTORY)
  hosts = {}
  walk = lambda do |group, node, chain|
    node ||= {}
    chain += [group]
    (node["hosts"] || {}).each do |name, inline|
      hosts[name] ||= { "groups" => [] }.merge(inline || {})
      hosts[name]["groups"] |= chain - ["all"]
    end
    (node["children"] || {}).each { |child, sub| walk.call(child, sub, chain) }
  end
  walk.call("all", inventory["all"], [])
  hosts.each do |name, vars|
    file = File.join(File.dirname(INVENTORY), "host_vars", "#{name}.yml")
    vars.merge!(YAML.load_file(file) || {}) if File.exist?(file)
    needed = CONTAINER_LAB ? %w[lab_address lab_ssh_port] : %w[lab_address]
    missing = needed.reject { |k| vars[k] }
    where = file.start_with?(ROOT + "/") ? file[(ROOT.size + 1)..] : file
    missing.empty? || abort("simplecloud: inventory host #{name} has no #{missing.join(", ")} (#{where})")
  end
  hosts.sort_by.with_index { |(_, vars), i| [vars["groups"].include?("managers") ? 1 : 0, i] }.to_h
end

# The lab's names in every machine's /etc/hosts, as Docker writes it: Docker
# rewrites the file at every `docker start`, so after a machine's restart the
# names role common added would be gone (the orchestrator reaches Docker
# hosts by name, pod hosts pull from `registry`). The virtual IP's names
# (role common's common_vip_names) from the inventory's group_vars/all.yml.
def known_hosts_args(machines)
  all = File.join(File.dirname(INVENTORY), "group_vars", "all.yml")
  vip = File.exist?(all) ? (YAML.load_file(all) || {})["lab_vip"] : nil
  names = machines.map { |name, vars| ["--add-host", "#{name}:#{vars["lab_address"]}"] }
  names += %w[manager registry].map { |n| ["--add-host", "#{n}:#{vip}"] } if vip
  names.flatten
end

# A manager's registry storage (role registry's registry_storage_dir) in its
# own volume that `make down` keeps, like the images: content-addressed blobs
# of the job images, so a new lab's first push sends no layer again (the base
# image's took 10 s of a manager's CPU). `make clean` removes them. One volume
# per manager: each registry holds the images itself (a manager's loss must
# not take them away from the others).
def registry_cache(name)
  ["-v", "simplecloud-#{name}-registry:/var/lib/docker-registry"]
end

# A machine's size for the lab's provider: lab.yml's <provider>.resources,
# by machine name, then by its inventory groups (innermost first), then default.
def resources(name, vars)
  table = LAB[PROVIDER]["resources"] || {}
  key = ([name] + vars["groups"].reverse + ["default"]).find { |k| table.key?(k) } ||
        abort("simplecloud: no resources for #{name} in lab.yml (#{PROVIDER}.resources.default)")
  table[key]
end

# ---------------------------------------------------------------- SSH
# A machine first boots with Vagrant's well-known insecure key; the first
# provisioning (role common) replaces it with this lab's own key, made here
# once per lab (`make down` deletes it). Vagrant, Ansible and testinfra offer
# both keys, the lab's first, through one ssh-config written here, for
# either provider.
def ensure_keys
  FileUtils.mkdir_p(File.dirname(INSECURE_KEY))
  unless File.exist?(INSECURE_KEY)
    FileUtils.cp(File.join(Vagrant.source_root, "keys", "vagrant"), INSECURE_KEY)
    File.chmod(0o600, INSECURE_KEY)
  end
  return if File.exist?(LAB_KEY)
  system("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "simplecloud-lab", "-f", LAB_KEY) ||
    abort("simplecloud: could not make the lab's SSH key #{LAB_KEY} (is ssh-keygen installed?)")
end

def write_ssh_config
  ensure_keys
  text = MACHINES.map do |name, vars|
    host, port = CONTAINER_LAB ? ["127.0.0.1", vars["lab_ssh_port"]] : [vars["lab_address"], 22]
    <<~HOST
      Host #{name}
        HostName #{host}
        Port #{port}
        User vagrant
        IdentityFile #{LAB_KEY}
        IdentityFile #{INSECURE_KEY}
        IdentitiesOnly yes
        StrictHostKeyChecking no
        UserKnownHostsFile /dev/null
        LogLevel ERROR
    HOST
  end.join
  File.write(SSH_CONFIG, text) unless File.exist?(SSH_CONFIG) && File.read(SSH_CONFIG) == text
end

# ---------------------------------------------------------------- fresh clone
# What `vagrant up` needs that a fresh clone lacks, each with the make target
# that builds it (make skips what is up to date; `make up` builds all first).
def docker_image?(image)
  system("docker", "image", "inspect", image, out: File::NULL, err: File::NULL)
end

def box_added?(name)
  home = ENV["VAGRANT_HOME"] || File.join(Dir.home, ".vagrant.d")
  Dir.exist?(File.join(home, "boxes", name.gsub("/", "-VAGRANTSLASH-")))
end

def box_file
  LAB[PROVIDER]["box_file"] && File.expand_path(LAB[PROVIDER]["box_file"], ROOT)
end

def missing_parts
  missing = {}
  # the base image is for the managers' job images (a lab may have no manager: make test-vm)
  has_manager = MACHINES.values.any? { |vars| vars["groups"].include?("managers") }
  if has_manager && !File.exist?(File.join(ROOT, "images", "build", "base.tar"))
    missing["images/build/base.tar"] = "images"
  end
  missing["the image #{LAB["docker"]["image"]}"] = "images" if CONTAINER_LAB && !docker_image?(LAB["docker"]["image"])
  # the wheels are for the provisioner (the manager installs from them)
  if has_manager && !ARGV.include?("--no-provision") && !File.exist?(File.join(ROOT, "images", "build", "wheels.tar"))
    missing["images/build/wheels.tar"] = "wheels"
  end
  box = LAB[PROVIDER]["box"]
  if !CONTAINER_LAB && !box_added?(box)
    missing["the box #{box}"] = box_file ? "box" : nil
    missing.delete("the box #{box}") if box_file && File.exist?(box_file) # Vagrant adds it (box_url)
  end
  missing
end

def build_missing
  missing = missing_parts
  return if missing.empty?
  unbuildable = missing.select { |_, target| target.nil? }.keys
  unbuildable.empty? ||
    abort("simplecloud: #{unbuildable.join(", ")} is missing: vagrant box add #{LAB[PROVIDER]["box"]} FILE.box (see README)")
  targets = missing.values.uniq
  command = "make #{targets.join(" ")}"
  puts "simplecloud: missing #{missing.keys.join(", ")}; running `#{command}`"
  system("make", "-C", ROOT, *targets) ||
    abort("simplecloud: `#{command}` failed (logs in .simplecloud/logs/); run it, then `vagrant up`")
end

# ---------------------------------------------------------------- another lab
# One lab per host machine: its container or domain names, SSH ports, the
# manager's published ports and the subnet are fixed. A lab started from
# another checkout (or whose Vagrant state was lost) holds them, and Vagrant
# would fail on the first port or name ("The forwarded port to 2231 is
# already in use"). `make up` replaces it (SIMPLECLOUD_REPLACE_OTHER_LAB=1);
# plain `vagrant up` stops with one line that says what to run.
def machine_record(name)
  id = File.join(STATE_DIR, "machines", name.to_s, PROVIDER, "id")
  File.exist?(id) ? File.read(id).strip : nil
end

# [kind, name, id, where it came from] of what holds this machine's name, or nil.
def other_lab_holding(name)
  if CONTAINER_LAB
    inspect = IO.popen(["docker", "inspect", "-f", "{{.Id}} {{index .Config.Labels \"simplecloud.lab.dir\"}}",
                        "simplecloud-#{name}"], err: File::NULL, &:read)
    id, dir = inspect.split(" ", 2) if $?.success?
    return nil if id.nil? || id == machine_record(name)
    dir = dir.to_s.strip
    ["container", "simplecloud-#{name}", id, dir == "<no value>" ? "" : dir]
  elsif PROVIDER == "libvirt"
    domain = "#{LAB_NAME}-#{name}"
    uuid = IO.popen(["virsh", "-c", "qemu:///system", "domuuid", domain], err: File::NULL, &:read).strip
    return nil if !$?.success? || uuid.empty? || uuid == machine_record(name)
    ["domain", domain, uuid, ""]
  end
end

def replace_other_lab(name)
  kind, what, _id, dir = other_lab_holding(name)
  return unless kind
  from = dir.empty? ? "another checkout, or a lost .vagrant" : dir
  unless ENV["SIMPLECLOUD_REPLACE_OTHER_LAB"] == "1"
    abort("simplecloud: the #{kind} #{what} belongs to another lab (#{from}); one lab per machine: " \
          "`make down` there, or `make up` here to replace it")
  end
  puts "simplecloud: replacing the #{kind} #{what} of another lab (#{from})"
  if kind == "container"
    system("docker", "rm", "-f", "-v", what, out: File::NULL) &&
      system("docker", "volume", "rm", "-f", "#{what}-docker", out: File::NULL) ||
      abort("simplecloud: could not remove the container #{what}")
  else
    system("virsh", "-c", "qemu:///system", "destroy", what, out: File::NULL, err: File::NULL)
    system("virsh", "-c", "qemu:///system", "undefine", what, "--remove-all-storage", out: File::NULL) ||
      abort("simplecloud: could not remove the domain #{what}")
  end
end

# ---------------------------------------------------------------- provisioning
# Like Vagrant's own provisioners: `vagrant up` provisions a lab the first
# time (or with --provision), `vagrant provision` always, never with
# --no-provision. The marker (PROVISIONED) is removed when the machines are
# destroyed.
def provision_now?
  return false if ARGV.include?("--no-provision")
  return true if ARGV.include?("--provision") || ARGV.first == "provision"
  ARGV.first == "up" && !File.exist?(PROVISIONED)
end

def provision_lab
  python = File.join(ROOT, ".venv", "bin", "python")
  File.executable?(python) ||
    abort("simplecloud: no .venv with ansible-runner to provision with: run `make venv`, then `vagrant provision`")
  system(python, File.join(ROOT, "playbooks", "provision.py"), "-e", "lab_provider=#{PROVIDER}") ||
    abort("simplecloud: provisioning failed (above; Ansible's output in .simplecloud/logs/provision.log); " \
          "fix it, then `vagrant provision`")
  FileUtils.touch(PROVISIONED)
end

# ---------------------------------------------------------------- Vagrant's docker provider
# Before it creates a machine, the provider lists every container of the
# engine and inspects them one by one for the host ports they hold
# (Driver#read_used_ports). A container that another program removes in
# between (a test tier's, on a shared engine) made `vagrant up` fail with
# "No such object". A container that is gone holds no port: it is skipped.
module SimplecloudUsedPorts
  def read_used_ports
    @simplecloud_reading_ports = true
    super
  ensure
    @simplecloud_reading_ports = false
  end

  def inspect_container(cid)
    super
  rescue VagrantPlugins::DockerProvider::Errors::ExecuteError => e
    raise unless @simplecloud_reading_ports && e.extra_data.to_h[:stderr].to_s.include?("No such object")
    { "HostConfig" => {} }
  end
end
if defined?(VagrantPlugins::DockerProvider::Driver)
  VagrantPlugins::DockerProvider::Driver.prepend(SimplecloudUsedPorts)
end

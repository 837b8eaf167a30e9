# Loads the Vagrantfile in DIR and prints, as JSON, what Vagrant's docker
# provider reads as the host ports in use when one of the engine's two
# containers is removed between its listing and its inspection (the
# commands are answered here; nothing runs).
# Usage: ruby tests/lab/used_ports.rb DIR
require "json"
require "vagrant"
Vagrant.plugin("2").manager   # the built-in plugins, as the vagrant command has them
require Vagrant.source_root.join("plugins/providers/docker/plugin").to_s

Dir.chdir(ARGV.shift)
load File.join(Dir.pwd, "Vagrantfile")
driver = VagrantPlugins::DockerProvider::Driver.new
driver.define_singleton_method(:execute) do |*argv, **_|
  case argv
  when %w[docker ps -a -q --no-trunc] then "kept\ngone\n"
  when %w[docker inspect kept]
    JSON.generate([{ "HostConfig" => { "PortBindings" => { "22/tcp" => [{ "HostIp" => "127.0.0.1", "HostPort" => "2299" }] } } }])
  when %w[docker inspect gone]
    raise VagrantPlugins::DockerProvider::Errors::ExecuteError,
          command: argv.inspect, stderr: "Error: No such object: gone", stdout: "[]"
  else raise "unexpected command #{argv.inspect}"
  end
end
puts JSON.generate(driver.read_used_ports.transform_values(&:to_a))

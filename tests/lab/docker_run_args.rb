# Prints, as JSON {machine: argv}, the `docker run` command Vagrant's docker
# provider would run for each machine of the Vagrantfile in DIR (default: the
# current directory), without running anything: Vagrant's own code builds the
# parameters (Action::Create#create_params) and the command (Driver#create);
# only the driver's execute is replaced by "record the command".
# Usage: ruby tests/lab/docker_run_args.rb [DIR]
require "json"
require "vagrant"

env = Vagrant::Environment.new(cwd: ARGV[0] || Dir.pwd)
commands = {}
env.machine_names.each do |name|
  machine = env.machine(name, :docker)
  create = VagrantPlugins::DockerProvider::Action::Create.new(->(_) {}, env)
  create.instance_variable_set(:@machine, machine)
  create.instance_variable_set(:@env, { root_path: env.root_path, machine: machine })
  create.instance_variable_set(:@provider_config, machine.provider_config)
  create.instance_variable_set(:@machine_config, machine.config)
  driver = VagrantPlugins::DockerProvider::Driver.new
  driver.define_singleton_method(:execute) { |*argv, **_| commands[name] = argv; "" }
  driver.create(create.create_params)
end
puts JSON.generate(commands)

# Loads the Vagrantfile in DIR and prints (JSON) whether its provisioning
# trigger would provision for the command line given after DIR.
# Usage: ruby tests/lab/provision_now.rb DIR up --no-provision
require "json"
require "vagrant"

Dir.chdir(ARGV.shift)
load File.join(Dir.pwd, "Vagrantfile")
puts JSON.generate(provision_now?)

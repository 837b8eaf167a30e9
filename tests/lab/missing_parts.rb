# Loads the Vagrantfile in DIR (default: the current directory) and prints, as
# JSON {what: make target}, what its `vagrant up` trigger would build (further
# arguments are seen by the Vagrantfile as the command line, e.g. --no-provision).
# Usage: ruby tests/lab/missing_parts.rb [DIR]
require "json"
require "vagrant"

Dir.chdir(ARGV[0] || Dir.pwd)
load File.join(Dir.pwd, "Vagrantfile")
puts JSON.generate(missing_parts)

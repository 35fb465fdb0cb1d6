# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_unstuck_global_optspecs
    string join \n color= q/quiet v/verbose h/help V/version
end

function __fish_unstuck_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_unstuck_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_unstuck_using_subcommand
    set -l cmd (__fish_unstuck_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c unstuck -n "__fish_unstuck_needs_command" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_needs_command" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_needs_command" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_needs_command" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_needs_command" -s V -l version -d 'Print version'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "doctor" -d 'Diagnose one flow run: why is it not running?'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "work-pool" -d 'Work pools: who holds a pool\'s concurrency slots'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "work-queue" -d 'Work queues: who holds a queue\'s concurrency slots'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "deployment" -d 'Deployments: who holds a deployment\'s concurrency slots'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "health" -d 'Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "serve" -d 'Prometheus exporter: serve `health`\'s metrics over HTTP, from a scan every interval'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "checks" -d 'List every check id with a one-line summary'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "explain" -d 'The long form of one check: what it means, why it matters, how to fix it'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c unstuck -n "__fish_unstuck_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''
markdown\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l pending-threshold -d 'How long a run may sit in Pending before it counts as stuck [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l late-threshold -d 'How long past its scheduled time a run may wait before it counts as late [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l observe -d 'Also watch the pool\'s queue polls and worker heartbeats for DURATION and report the measured poll rate per queue (the command takes that much longer)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l api-url -d 'The Prefect API URL (overrides PREFECT_API_URL and the profile)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l profile -d 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l timeout -d 'Deadline for the whole command' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l kube-context -d 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l aws-profile -d 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l aws-region -d 'The AWS region of the run\'s ECS cluster (default: AWS_REGION, else the region in the task\'s ARN)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l save-evidence -d 'Write everything that was collected (secrets redacted) to FILE as JSON' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l evidence -d 'Replay a saved evidence bundle instead of calling any server' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l no-kube -d 'Do not read Kubernetes'
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -l no-ecs -d 'Do not read AWS ECS or CloudWatch Logs'
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and not __fish_seen_subcommand_from slots help" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and not __fish_seen_subcommand_from slots help" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and not __fish_seen_subcommand_from slots help" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and not __fish_seen_subcommand_from slots help" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and not __fish_seen_subcommand_from slots help" -f -a "slots" -d 'Who holds the pool\'s concurrency slots, since when, and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and not __fish_seen_subcommand_from slots help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l pending-threshold -d 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l api-url -d 'The Prefect API URL (overrides PREFECT_API_URL and the profile)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l profile -d 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l timeout -d 'Deadline for the whole command' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l save-evidence -d 'Write everything that was collected (secrets redacted) to FILE as JSON' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l evidence -d 'Replay a saved evidence bundle instead of calling any server' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from slots" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from help" -f -a "slots" -d 'Who holds the pool\'s concurrency slots, since when, and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-pool; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and not __fish_seen_subcommand_from slots help" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and not __fish_seen_subcommand_from slots help" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and not __fish_seen_subcommand_from slots help" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and not __fish_seen_subcommand_from slots help" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and not __fish_seen_subcommand_from slots help" -f -a "slots" -d 'Who holds the queue\'s concurrency slots, since when, and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and not __fish_seen_subcommand_from slots help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l pool -d 'The work pool the queue belongs to (needed when several pools have a queue of that name)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l pending-threshold -d 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l api-url -d 'The Prefect API URL (overrides PREFECT_API_URL and the profile)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l profile -d 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l timeout -d 'Deadline for the whole command' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l save-evidence -d 'Write everything that was collected (secrets redacted) to FILE as JSON' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l evidence -d 'Replay a saved evidence bundle instead of calling any server' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from slots" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from help" -f -a "slots" -d 'Who holds the queue\'s concurrency slots, since when, and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand work-queue; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and not __fish_seen_subcommand_from slots help" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and not __fish_seen_subcommand_from slots help" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and not __fish_seen_subcommand_from slots help" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and not __fish_seen_subcommand_from slots help" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and not __fish_seen_subcommand_from slots help" -f -a "slots" -d 'Who holds the deployment\'s concurrency slots (Prefect 3), and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and not __fish_seen_subcommand_from slots help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l pending-threshold -d 'How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l api-url -d 'The Prefect API URL (overrides PREFECT_API_URL and the profile)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l profile -d 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l timeout -d 'Deadline for the whole command' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l save-evidence -d 'Write everything that was collected (secrets redacted) to FILE as JSON' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l evidence -d 'Replay a saved evidence bundle instead of calling any server' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from slots" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from help" -f -a "slots" -d 'Who holds the deployment\'s concurrency slots (Prefect 3), and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand deployment; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l fail-on -d 'Which verdict fails the command (non-zero exit): critical only, or warnings too' -r -f -a "warning\t''
critical\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''
markdown\t''
junit\t''
prometheus\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l pool -d 'Only this pool (repeat for several); by default every pool of the server' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l pending-threshold -d 'How long a run may sit in Pending before it counts as stuck [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l late-threshold -d 'How long past its scheduled time a run may wait before it counts as late [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l max-runs -d 'How many stuck runs to diagnose per pool (the oldest first)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l concurrency -d 'Requests in flight at once' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l api-url -d 'The Prefect API URL (overrides PREFECT_API_URL and the profile)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l profile -d 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l timeout -d 'Deadline for the whole command' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l kube-context -d 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l aws-profile -d 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l aws-region -d 'The AWS region of the run\'s ECS cluster (default: AWS_REGION, else the region in the task\'s ARN)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l save-evidence -d 'Write everything that was collected (secrets redacted) to FILE as JSON' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l evidence -d 'Replay a saved evidence bundle instead of calling any server' -r -F
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l no-kube -d 'Do not read Kubernetes'
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -l no-ecs -d 'Do not read AWS ECS or CloudWatch Logs'
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand health" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l listen -d 'The address to serve /metrics and /healthz on (IP:PORT; 0.0.0.0:9464 in a pod)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l interval -d 'How often to scan the fleet (the age of the metrics a scrape gets, at most this plus one scan)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l pool -d 'Only this pool (repeat for several); by default every pool of the server' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l pending-threshold -d 'How long a run may sit in Pending before it counts as stuck [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l late-threshold -d 'How long past its scheduled time a run may wait before it counts as late [default: 5m]' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l max-runs -d 'How many stuck runs to diagnose per pool (the oldest first)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l concurrency -d 'Requests in flight at once' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l api-url -d 'The Prefect API URL (overrides PREFECT_API_URL and the profile)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l profile -d 'The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l timeout -d 'Deadline for the whole command' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l kube-context -d 'The kubeconfig context to read Kubernetes with (default: the current context, or the in-cluster config)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l aws-profile -d 'The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default credential chain)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l aws-region -d 'The AWS region of the run\'s ECS cluster (default: AWS_REGION, else the region in the task\'s ARN)' -r
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l no-kube -d 'Do not read Kubernetes'
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -l no-ecs -d 'Do not read AWS ECS or CloudWatch Logs'
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand serve" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand checks" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand checks" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand checks" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand checks" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand checks" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand explain" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand explain" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand explain" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand explain" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand completions" -l color -d 'When to colour the output (honours NO_COLOR)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c unstuck -n "__fish_unstuck_using_subcommand completions" -s q -l quiet -d 'Print only the verdict line (table output); no progress, no warnings'
complete -c unstuck -n "__fish_unstuck_using_subcommand completions" -s v -l verbose -d 'Log each request to stderr (-vv adds response sizes and retries)'
complete -c unstuck -n "__fish_unstuck_using_subcommand completions" -s h -l help -d 'Print help'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "doctor" -d 'Diagnose one flow run: why is it not running?'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "work-pool" -d 'Work pools: who holds a pool\'s concurrency slots'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "work-queue" -d 'Work queues: who holds a queue\'s concurrency slots'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "deployment" -d 'Deployments: who holds a deployment\'s concurrency slots'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "health" -d 'Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "serve" -d 'Prometheus exporter: serve `health`\'s metrics over HTTP, from a scan every interval'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "checks" -d 'List every check id with a one-line summary'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "explain" -d 'The long form of one check: what it means, why it matters, how to fix it'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and not __fish_seen_subcommand_from doctor work-pool work-queue deployment health serve checks explain completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and __fish_seen_subcommand_from work-pool" -f -a "slots" -d 'Who holds the pool\'s concurrency slots, since when, and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and __fish_seen_subcommand_from work-queue" -f -a "slots" -d 'Who holds the queue\'s concurrency slots, since when, and are they alive?'
complete -c unstuck -n "__fish_unstuck_using_subcommand help; and __fish_seen_subcommand_from deployment" -f -a "slots" -d 'Who holds the deployment\'s concurrency slots (Prefect 3), and are they alive?'

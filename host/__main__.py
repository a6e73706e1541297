from edgehost.cli.main import main

main()

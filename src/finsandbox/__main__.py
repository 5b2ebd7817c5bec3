from finsandbox.cli import main

main()

from populace.cli import main

main()

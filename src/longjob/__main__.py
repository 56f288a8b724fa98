from longjob.cli import main

main()
